-- dict_props: property reads (d.x) on small dicts in a loop.
local function main()
  local points = {{x = 1, y = 2, z = 3}, {x = 4, y = 5, z = 6}, {x = 7, y = 8, z = 9}, {x = 10, y = 11, z = 12}}
  local acc = 0
  for i = 0, 4000000 - 1 do
    local p = points[i % 4 + 1]
    acc = acc + p.x * p.y - p.z
  end
  print(acc)
end
main()
