# A pack with a syntax error.
class Broken:
    def oops(self)
        return 1

NODE_CLASS_MAPPINGS = {"TestSyntaxBroken": Broken}
