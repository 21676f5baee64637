-- struct_props: field reads on struct instances (tables with a metatable).
local Vec3 = {}
Vec3.__index = Vec3
local function new_vec3(x, y, z)
  return setmetatable({x = x, y = y, z = z}, Vec3)
end
local function main()
  local vs = {new_vec3(1, 2, 3), new_vec3(4, 5, 6), new_vec3(7, 8, 9), new_vec3(10, 11, 12)}
  local acc = 0
  for i = 0, 4000000 - 1 do
    local v = vs[i % 4 + 1]
    acc = acc + v.x * v.y - v.z
  end
  print(acc)
end
main()
