"""Configurable resources: Spark, the lake, the training and production registries, the warehouse."""
from manymodels_assets.resources.lake import LakeResource
from manymodels_assets.resources.registry import ModelRegistryResource
from manymodels_assets.resources.spark import spark_resource
from manymodels_assets.resources.warehouse import WarehouseResource

__all__ = ["LakeResource", "ModelRegistryResource", "WarehouseResource", "spark_resource"]
