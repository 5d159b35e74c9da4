# V1 pack: a for-loop built by node expansion with GraphBuilder, the way flow-control packs do it.
from comfy_execution.graph_utils import GraphBuilder, is_link


class ForLoopOpen:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"total": ("INT", {"default": 3, "min": 1, "max": 1000})},
            "optional": {"value": ("*",), "index": ("INT", {"default": 0, "min": 0})},
        }

    RETURN_TYPES = ("FLOW_CONTROL", "INT", "*")
    RETURN_NAMES = ("flow", "index", "value")
    FUNCTION = "open"
    CATEGORY = "test/loop"

    def open(self, total, value=None, index=0):
        return (("for_loop", total, index), index, value)


class ForLoopClose:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"flow": ("FLOW_CONTROL", {"rawLink": True})},
            "optional": {"value": ("*",)},
            "hidden": {"dynprompt": "DYNPROMPT", "unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("*",)
    RETURN_NAMES = ("value",)
    FUNCTION = "close"
    CATEGORY = "test/loop"

    def body_nodes(self, dynprompt, open_id, close_id):
        """Ids between the open node and this one: upstream of close, downstream of open."""
        reaches_open = {open_id: True}

        def reaches(node_id):
            stack, order = [node_id], []
            while stack:
                current = stack.pop()
                if current in reaches_open:
                    continue
                order.append(current)
                for value in dynprompt.get_node(current)["inputs"].values():
                    if is_link(value) and value[0] not in reaches_open:
                        stack.append(value[0])
            for current in reversed(order):
                links = [v[0] for v in dynprompt.get_node(current)["inputs"].values() if is_link(v)]
                reaches_open[current] = any(reaches_open.get(l, False) for l in links)
            return reaches_open[node_id]

        body = set()
        stack = [close_id]
        while stack:
            current = stack.pop()
            for value in dynprompt.get_node(current)["inputs"].values():
                if is_link(value) and value[0] not in body and value[0] != open_id and reaches(value[0]):
                    body.add(value[0])
                    stack.append(value[0])
        return body

    def close(self, flow, dynprompt, unique_id, value=None):
        open_id = flow[0]  # rawLink: the link itself, not the value
        open_node = dynprompt.get_node(open_id)
        total = open_node["inputs"]["total"]
        index = open_node["inputs"].get("index", 0)
        if index + 1 >= total:
            return (value,)
        graph = GraphBuilder()
        contained = self.body_nodes(dynprompt, open_id, unique_id) | {open_id, unique_id}
        for node_id in contained:
            original = dynprompt.get_node(node_id)
            graph.node(original["class_type"], "Recurse" if node_id == unique_id else node_id)
        for node_id in contained:
            original = dynprompt.get_node(node_id)
            clone = graph.lookup_node("Recurse" if node_id == unique_id else node_id)
            for name, item in original["inputs"].items():
                if is_link(item) and item[0] in contained:
                    source = graph.lookup_node("Recurse" if item[0] == unique_id else item[0])
                    clone.set_input(name, source.out(item[1]))
                else:
                    clone.set_input(name, item)
        new_open = graph.lookup_node(open_id)
        new_open.set_input("index", index + 1)
        new_open.set_input("value", original_value_link(dynprompt, unique_id))
        recurse = graph.lookup_node("Recurse")
        return {"result": (recurse.out(0),), "expand": graph.finalize()}


def original_value_link(dynprompt, close_id):
    """The next iteration starts from what this iteration's close received."""
    return dynprompt.get_node(close_id)["inputs"].get("value")


class AddInt:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"forceInput": True}), "b": ("INT", {"default": 1})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "add"
    CATEGORY = "test/loop"

    def add(self, a, b):
        return ((a or 0) + b,)


NODE_CLASS_MAPPINGS = {"TestForLoopOpen": ForLoopOpen, "TestForLoopClose": ForLoopClose, "TestAddInt": AddInt}
