import sys

try:
    from canvas_app.cli import main
except KeyboardInterrupt:  # Ctrl-C while the program is still starting
    sys.exit(130)

sys.exit(main())
