-- arith: integer and float arithmetic in a tight while loop.
local i = 0
local acc = 0
local f = 0.0
while i < 3000000 do
  acc = (acc + i * 7 - i // 3 + i % 11) % 1000003
  f = f + 0.5
  i = i + 1
end
print(acc)
print(string.format("%.1f", f))
