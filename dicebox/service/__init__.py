"""The sensory service: the original REST protocol plus the native ``/api/v1`` API.

Flask is imported only inside this package.
"""

from dicebox.service.app import create_app

__all__ = ["create_app"]
