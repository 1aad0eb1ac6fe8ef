-- Tessera's HTTP load benchmark (bench/bench_http.py) drives wrk with this script.
--
-- The requests are prepared in a file, one a line, tab-separated: method, path, bearer token,
-- JSON body (may be empty). Thread k of n takes lines k, k+n, k+2n, ... and sends them in order.
-- With TESSERA_WRK_REPEAT=0 (redemptions) no line is ever sent twice: when a thread runs out it
-- stops (and `done` reports it, failing the run); with 1 (reads, bulk creates) it starts over.
-- `done` prints one line, "TESSERA_WRK_RESULT {json}", with latency percentiles and status counts.

local requests_file = os.getenv("TESSERA_WRK_REQUESTS")
local thread_count = tonumber(os.getenv("TESSERA_WRK_THREADS"))
local may_repeat = os.getenv("TESSERA_WRK_REPEAT") == "1"
local expected = tonumber(os.getenv("TESSERA_WRK_EXPECT"))

-- In the main script state: every thread, for `done` to collect their counts.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

-- In each thread's own state.
local prepared = {}
local next_request = 1
local spare = nil
statuses = {}
ran_out = 0
unexpected_body = ""

local function prepare(line)
  local method, path, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
  local headers = { ["Authorization"] = "Bearer " .. token }
  if body == "" then
    body = nil
  else
    headers["Content-Type"] = "application/json"
  end
  return wrk.format(method, path, headers, body)
end

function init(args)
  local line_number = 0
  local all = {}
  for line in io.lines(requests_file) do
    line_number = line_number + 1
    all[#all + 1] = line
    if (line_number - 1) % thread_count == id - 1 then
      prepared[#prepared + 1] = prepare(line)
    end
  end
  if #prepared == 0 and may_repeat then
    -- Fewer lines than threads (one bulk create, sent again and again): every thread takes them all.
    for _, line in ipairs(all) do
      prepared[#prepared + 1] = prepare(line)
    end
  end
  spare = wrk.format("GET", "/healthz")
end

function request()
  if next_request > #prepared then
    if may_repeat then
      next_request = 1
    else
      -- Out of prepared requests: a harmless request keeps wrk's loop valid while it stops.
      ran_out = ran_out + 1
      wrk.thread:stop()
      return spare
    end
  end
  local prepared_request = prepared[next_request]
  next_request = next_request + 1
  return prepared_request
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= expected and unexpected_body == "" then
    unexpected_body = status .. " " .. string.sub(body or "", 1, 300)
  end
end

local function json_string(text)
  return '"' .. text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function done(summary, latency, requests)
  local counts, total_ran_out, first_unexpected = {}, 0, ""
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
    total_ran_out = total_ran_out + thread:get("ran_out")
    if first_unexpected == "" then
      first_unexpected = thread:get("unexpected_body")
    end
  end
  local status_parts = {}
  for status, n in pairs(counts) do
    status_parts[#status_parts + 1] = string.format('"%d": %d', status, n)
  end
  local percentile_parts = {}
  for _, p in ipairs({ 50, 90, 95, 99, 99.9 }) do
    percentile_parts[#percentile_parts + 1] = string.format('"%s": %d', p, latency:percentile(p))
  end
  local errors = summary.errors
  io.write("TESSERA_WRK_RESULT {",
    string.format('"duration_us": %d, "requests": %d, "bytes": %d, ', summary.duration, summary.requests, summary.bytes),
    string.format('"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ',
      errors.connect, errors.read, errors.write, errors.status, errors.timeout),
    string.format('"latency_us": {"mean": %d, "max": %d, "percentiles": {%s}}, ',
      latency.mean, latency.max, table.concat(percentile_parts, ", ")),
    string.format('"statuses": {%s}, "ran_out": %d, "first_unexpected": %s',
      table.concat(status_parts, ", "), total_ran_out, json_string(first_unexpected)),
    "}\n")
end
