-- strings: interpolation (string.format), concatenation, length and join.
local function main()
  local total = 0
  for i = 0, 600000 - 1 do
    local s = string.format("item %d: %d", i, i % 97)
    local t = s .. "|" .. s
    total = total + #t
  end
  for r = 0, 6000 - 1 do
    local line = ""
    for j = 0, 40 - 1 do
      line = line .. string.format("%d,", j + r)
    end
    total = total + #line
  end
  local words = {"alpha", "beta", "gamma", "delta"}
  for r = 0, 20000 - 1 do
    total = total + #table.concat(words, "-")
  end
  print(total)
end
main()
