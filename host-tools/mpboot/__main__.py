from mpboot.cli import main

raise SystemExit(main())
