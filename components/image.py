"""The images the components run in: ``CC_IMAGES__COMPONENTS`` and
``CC_IMAGES__TRAINING_GPU`` when compiling for a cluster (CI pins them to digests)."""

from customer_classifier import __version__
from customer_classifier.settings import load_settings

_IMAGES = load_settings().images
COMPONENT_IMAGE = (
    _IMAGES.components or f"registry.example.com/customer-classifier/components:{__version__}"
)
TRAINING_GPU_IMAGE = (
    _IMAGES.training_gpu or f"registry.example.com/customer-classifier/training-gpu:{__version__}"
)
