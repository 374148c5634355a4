"""``python -m xray_tasks`` runs the ``xray-tasks`` command."""

from xray_tasks.cli import main

main()
