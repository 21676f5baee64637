-- dicts: word counting over a 200-word vocabulary, lookups, key iteration.
local function main()
  local vocab = {}
  for w = 0, 200 - 1 do vocab[#vocab + 1] = "w" .. w end
  local counts = {}
  local n = 0
  for i = 0, 1600000 - 1 do
    local k = vocab[(i * 7 + i // 13) % 200 + 1]
    local c = counts[k]
    if c == nil then n = n + 1; c = 0 end
    counts[k] = c + 1
  end
  local total, misses = 0, 0
  for r = 0, 4000 - 1 do
    for _, k in ipairs(vocab) do
      total = total + counts[k]
      if counts["x" .. r] == nil then misses = misses + 1 end
    end
  end
  local keys = {}
  for k in pairs(counts) do keys[#keys + 1] = k end
  table.sort(keys)
  local keylen = 0
  for _, k in ipairs(keys) do keylen = keylen + #k end
  print(n)
  print(total)
  print(misses)
  print(keylen)
end
main()
