"""The sensory service: the original REST protocol plus the native ``/api/v1`` API.

Flask is imported only inside this package.
"""

from dicebox.service.app import create_app
from dicebox.service.context import ServiceContext, service_context

__all__ = ["ServiceContext", "create_app", "service_context"]
