"""The operator's session without Qt: the service link, recording and run monitoring as evented models.

The window, the headless demo and the tests drive these objects; a Qt view subscribes to their
events (plain dataclasses, delivered by :class:`~dicebox.session.events.EventEmitter`) and renders.
"""
