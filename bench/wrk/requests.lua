-- wrk script for every single-request scenario of `python -m bench`.
--
--   wrk -t THREADS ... -s bench/wrk/requests.lua URL -- REQUESTS_FILE MODE RUN_ID THREADS
--
-- REQUESTS_FILE holds one request per line, tab-separated: METHOD, PATH, the bearer
-- token ("-" for none) and the body ("-" for none). Each thread takes every line in
-- turn, starting at its own offset, so that consecutive requests (and so the
-- connections' requests in flight at once) go to different users.
--
-- MODE "static": the requests are formatted once, at start-up, and only replayed.
-- MODE "idempotent": every request carries an Idempotency-Key no other request has.
-- MODE "unique": "{u}" in a body becomes a string no other request has (register).
--
-- done() prints one JSON line for bench/measure.py. wrk counts a response with a
-- status above 399 in errors.status.

local requests = {}
local templates = {}
local index = 0
local counter = 0
local mode = "static"
local run_id = ""
local tid = 1

-- Runs in wrk's main Lua state, once per thread, each time just before that thread's
-- init(); the counter numbers the threads.
local started = 0

function setup(thread)
   started = started + 1
   thread:set("thread_number", started)
end

local function split(line)
   local fields = {}
   for field in string.gmatch(line, "([^\t]*)\t?") do
      table.insert(fields, field)
   end
   return fields
end

function init(args)
   local path, threads = args[1], tonumber(args[4] or "1")
   mode = args[2] or "static"
   run_id = args[3] or ""
   tid = thread_number or 1
   for line in io.lines(path) do
      if line ~= "" then
         local f = split(line)
         local headers = {}
         if f[3] ~= "-" then
            headers["Authorization"] = "Bearer " .. f[3]
         end
         local body = nil
         if f[4] ~= "-" then
            body = f[4]
            headers["Content-Type"] = "application/json"
         end
         table.insert(templates, { method = f[1], path = f[2], headers = headers, body = body })
      end
   end
   for _, t in ipairs(templates) do
      table.insert(requests, wrk.format(t.method, t.path, t.headers, t.body))
   end
   -- Threads start at different lines.
   index = ((tid - 1) * math.floor(#templates / threads)) % #templates
end

local function unique()
   counter = counter + 1
   return run_id .. "-" .. tid .. "-" .. counter
end

function request()
   index = index % #templates + 1
   if mode == "static" then
      return requests[index]
   end
   local t = templates[index]
   if mode == "idempotent" then
      local headers = {}
      for k, v in pairs(t.headers) do
         headers[k] = v
      end
      headers["Idempotency-Key"] = unique()
      return wrk.format(t.method, t.path, headers, t.body)
   end
   return wrk.format(t.method, t.path, t.headers, (string.gsub(t.body, "{u}", unique())))
end

function done(summary, latency, _)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, '
         .. '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, '
         .. '"max_us": %d}\n',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.max))
end
