"""(ops of this family are registered here)"""
