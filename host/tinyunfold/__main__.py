from tinyunfold.cli import main

raise SystemExit(main())
