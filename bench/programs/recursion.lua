-- recursion: Takeuchi function (deep, branching recursion with 3 args)
-- plus a recursive list-free tree sum.
local function tak(x, y, z)
  if y >= x then
    return z
  end
  return tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y))
end
local function tree(depth)
  if depth == 0 then
    return 1
  end
  return tree(depth - 1) + tree(depth - 1) + 1
end
print(tak(24, 16, 8))
print(tree(21))
