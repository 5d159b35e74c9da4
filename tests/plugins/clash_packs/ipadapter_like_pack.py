# Written for Plexus's tests: a pack defining the node names an IP-Adapter pack uses
# (IPAdapterModelLoader, IPAdapterApply), which were Plexus's own SD3 node names before the rename.
class IPAdapterModelLoader:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ipadapter_file": ("STRING", {"default": "plus.safetensors"})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "load_ipadapter_model"
    CATEGORY = "test/ipadapter_like"

    def load_ipadapter_model(self, ipadapter_file):
        return (f"pack:{ipadapter_file}",)


class IPAdapterApply:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ipadapter": ("STRING", {"forceInput": True}),
                             "weight": ("FLOAT", {"default": 1.0})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "apply_ipadapter"
    CATEGORY = "test/ipadapter_like"

    def apply_ipadapter(self, ipadapter, weight):
        return (f"{ipadapter}@{weight}",)


NODE_CLASS_MAPPINGS = {"IPAdapterModelLoader": IPAdapterModelLoader, "IPAdapterApply": IPAdapterApply}
