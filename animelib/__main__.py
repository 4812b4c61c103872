from animelib.cli import main

raise SystemExit(main())
