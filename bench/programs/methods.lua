-- methods: method dispatch on objects (metatable methods).
local Counter = {}
Counter.__index = Counter
function Counter.new(n, step)
  return setmetatable({n = n, step = step}, Counter)
end
function Counter:value()
  return self.n
end
function Counter:scaled(k)
  return self.n * k + self.step
end
local function main()
  local cs = {Counter.new(1, 2), Counter.new(3, 4), Counter.new(5, 6)}
  local acc = 0
  for i = 0, 1600000 - 1 do
    local c = cs[i % 3 + 1]
    acc = (acc + c:value() + c:scaled(i % 10)) % 1000000007
  end
  print(acc)
end
main()
