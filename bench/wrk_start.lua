-- wrk script: POST /agent/start round-robin over many users' tokens (one per line of the file
-- given after `--`), short prompt. Used by scripts/bench.sh as a cross-check of http_bench:
--   wrk -t1 -c64 -d3s -s bench/wrk_start.lua http://127.0.0.1:PORT -- tokens.txt
local reqs = {}
local n = 0

function init(args)
  local path = args[1] or error("usage: -- TOKENS_FILE")
  for token in io.lines(path) do
    n = n + 1
    reqs[n] = wrk.format("POST", "/agent/start", {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }, "prompt=hello")
  end
  if n == 0 then error("no tokens in " .. path) end
  -- Threads start at different users.
  i = math.random(n) - 1
end

function request()
  i = i % n + 1
  return reqs[i]
end
