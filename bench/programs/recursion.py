# recursion: Takeuchi function (deep, branching recursion with 3 args)
# plus a recursive list-free tree sum.
def tak(x, y, z):
    if y >= x:
        return z
    return tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y))
def tree(depth):
    if depth == 0:
        return 1
    return tree(depth - 1) + tree(depth - 1) + 1
print(tak(24, 16, 8))
print(tree(21))
