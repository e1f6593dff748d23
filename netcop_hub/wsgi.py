"""WSGI entry point (gunicorn netcop_hub.wsgi)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netcop_hub.settings")
application = get_wsgi_application()
