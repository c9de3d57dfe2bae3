import sys

from customer_classifier.serving.server import main

sys.exit(main())
