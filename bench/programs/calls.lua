-- calls: many calls of small non-recursive functions.
local function add3(a, b, c)
  return a + b + c
end
local function mix(x)
  return add3(x, x % 7, 1) % 1000
end
local function main()
  local acc = 0
  for i = 0, 3000000 - 1 do
    acc = acc + mix(i)
  end
  print(acc)
end
main()
