"""RabbitMQ, as every part of dicebox uses it: connections that fail fast, the queues each side
declares (one style for batch orders and training orders), and the confirmed worker loop that batch
processors and evolution workers both run.

pika is imported only here and in the two request-side backends (``batches/rabbitmq.py``,
``evolution/rabbit_evaluator.py``), which build on this package.
"""
