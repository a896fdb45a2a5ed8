"""Model zoo: one registry and one factory for torchvision models, any timm model and the custom CNN.

Example:
    >>> from medclass.models import create_model, available_models, freeze_backbone
    >>> model = create_model("resnet18", num_classes=2, in_chans=1, drop_rate=0.3)
    >>> freeze_backbone(model)          # train only the head
"""

from medclass.models.custom_cnn import CustomCNN
from medclass.models.factory import create_model, create_model_from_config, model_args
from medclass.models.layers import (
    DropoutLinear,
    adapt_input_conv,
    classifier_name,
    freeze_backbone,
    get_classifier,
)
from medclass.models.profile import count_macs, count_parameters, layer_table, profile_model
from medclass.models.registry import TIMM_PREFIX, available_models, register_model, unregister_model
from medclass.models.weights import LoadReport, load_weights, read_state_dict

__all__ = [
    "TIMM_PREFIX",
    "CustomCNN",
    "DropoutLinear",
    "LoadReport",
    "adapt_input_conv",
    "available_models",
    "classifier_name",
    "count_macs",
    "count_parameters",
    "create_model",
    "create_model_from_config",
    "freeze_backbone",
    "get_classifier",
    "layer_table",
    "load_weights",
    "model_args",
    "profile_model",
    "read_state_dict",
    "register_model",
    "unregister_model",
]
