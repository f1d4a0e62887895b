"""One dynamic partition per store-item; keys come from ``forecasting.keys.encode_key``."""
import dagster as dg

store_item = dg.DynamicPartitionsDefinition(name="store_item")

ADD_CHUNK = 5_000  # sqlite builds fail near 36k keys in one add (dagster#16260)


def add_store_items(instance: dg.DagsterInstance, keys: list[str]) -> list[str]:
    """Add the keys not yet known, in bulk, in order; returns the keys that were new."""
    known = set(instance.get_dynamic_partitions(store_item.name))
    new = [k for k in dict.fromkeys(keys) if k not in known]
    for start in range(0, len(new), ADD_CHUNK):
        instance.add_dynamic_partitions(store_item.name, new[start:start + ADD_CHUNK])
    return new
