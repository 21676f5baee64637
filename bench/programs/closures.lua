-- closures: list map/filter/reduce with closures capturing a local.
local function map(xs, f)
  local out = {}
  for i = 1, #xs do out[i] = f(xs[i]) end
  return out
end
local function filter(xs, f)
  local out, n = {}, 0
  for i = 1, #xs do
    local x = xs[i]
    if f(x) then n = n + 1; out[n] = x end
  end
  return out
end
local function reduce(xs, init, f)
  local acc = init
  for i = 1, #xs do acc = f(acc, xs[i]) end
  return acc
end
local function main()
  local xs = {}
  for i = 0, 10000 - 1 do xs[i + 1] = i end
  local total = 0
  for k = 0, 240 - 1 do
    local ys = map(xs, function(x) return x * k + 1 end)
    local zs = filter(ys, function(x) return x % 3 == 0 end)
    total = (total + reduce(zs, 0, function(a, b) return a + b end)) % 1000000007
  end
  print(total)
end
main()
