"""The web client's static files (index.html, app.js, ...), served by :mod:`dicebox.service.web_routes`."""
