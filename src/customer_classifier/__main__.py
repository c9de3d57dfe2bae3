import sys

from customer_classifier.cli import main

sys.exit(main())
