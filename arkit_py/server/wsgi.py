"""The WSGI entry point for gunicorn (configuration from ``ARKIT_*`` variables)::

    ARKIT_DATA_DIR=/srv/arkit ARKIT_DATABASE_URL=postgresql+psycopg://arkit@db/arkit \\
    ARKIT_REDIS_URL=redis://redis:6379/0 ARKIT_LESSONS_DIR=/srv/arkit/lessons \\
    ARKIT_PUBLIC_URL=https://arkit.school.example ARKIT_ASYNC_MODE=gevent \\
    gunicorn -k gevent -w 1 -b 127.0.0.1:8001 arkit_py.server.wsgi:app

One worker per gunicorn process (Socket.IO keeps a connection's state in its process); run
several processes on several ports behind nginx with sticky sessions (``ip_hash``).
"""

from . import create_app

app = create_app()
