"""The image every component runs in; set CC_COMPONENT_IMAGE when compiling for a cluster."""

import os

from customer_classifier import __version__

COMPONENT_IMAGE = os.environ.get(
    "CC_COMPONENT_IMAGE", f"registry.example.com/customer-classifier/components:{__version__}"
)
