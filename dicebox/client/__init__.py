"""The recording station's side of the wire: the HTTP client of the sensory service, the
spool that keeps frames on disk until the service acknowledges them, their delivery, and the
local service launched as a child process.
"""
