"""Small plumbing the other packages share: atomic and durable file writes, exponential backoff,
the user's folders, and child ``dicebox`` processes read line by line.
"""
