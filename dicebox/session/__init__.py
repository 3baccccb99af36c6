"""The operator's session without Qt: the service link, what to record and the recording path, the
model the live view uses, the run monitor and the data set review, as evented models.

The window, the headless demo and the tests drive these objects; a Qt view subscribes to their
events (plain dataclasses, delivered by :class:`~dicebox.session.events.EventEmitter`) and renders.
"""
