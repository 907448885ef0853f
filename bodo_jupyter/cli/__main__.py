from . import main

raise SystemExit(main(prog_name="bodo-jupyter"))
