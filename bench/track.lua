-- wrk script for POST /api/v1/track, driven by bench/track.py.
--
--   wrk -s bench/track.lua http://127.0.0.1:PORT/api/v1/track -- RUN SITE_KEY BATCH [VISITORS] [VISIT_LEN]
--
-- RUN is 8 hex digits, unique per wrk run, so ids never repeat across runs against one database.
-- Event ids are RUN-TTTT-4000-8000-CCCCCCCCCCCC: T is the wrk thread, C a per-thread counter,
-- so every event id is fresh and the server should count no duplicates.
-- Each batch mixes page_view (6 of 10), cart_add (3 of 10) and form_error (1 of 10); a
-- single-event run cycles through the same mix. Requests spread over VISITORS visitors.
-- VISIT_LEN > 0 starts a new visit for a visitor about every VISIT_LEN of its events (each
-- visitor at its own moment), as real traffic does; 0 keeps one visit per visitor for the run.
-- done() prints one machine-readable line: BENCH accepted=N duplicates=N ok=N bad=N.

local threads = {}
local thread_no = 0

function setup(thread)
   thread:set("tid", thread_no)
   thread_no = thread_no + 1
   table.insert(threads, thread)
end

local run, site_key, batch, visitors, prefix, visit_len
local counter = 0
-- Globals, not locals: done() reads them from each thread's Lua state with thread:get().
accepted, duplicates, ok, bad = 0, 0, 0, 0

function init(args)
   run = args[1] or "00000000"
   site_key = args[2] or "missing"
   batch = tonumber(args[3] or "1")
   visitors = tonumber(args[4] or "1000")
   visit_len = tonumber(args[5] or "0")
   prefix = string.format("%s-%04x-4000-8000-", run, tid)
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

local PROPS = {
   [0] = '"type":"page_view","props":{"url":"https://shop.example/p/1","page_type":"product"}',
   '"type":"page_view","props":{"url":"https://shop.example/p/3","page_type":"product"}',
   '"type":"page_view","props":{"url":"https://shop.example/c/shoes","page_type":"category"}',
   '"type":"cart_add","props":{"product_id":"p1","unit_price":1999,"quantity":1}',
   '"type":"page_view","props":{"url":"https://shop.example/p/2","page_type":"product"}',
   '"type":"page_view","props":{"url":"https://shop.example/cart","page_type":"cart"}',
   '"type":"cart_add","props":{"product_id":"p2","unit_price":4999,"quantity":2}',
   '"type":"page_view","props":{"url":"https://shop.example/checkout","page_type":"checkout"}',
   '"type":"cart_add","props":{"product_id":"p3","unit_price":999,"quantity":1}',
   '"type":"form_error","props":{"form":"checkout","field":"email"}',
}

function request()
   local ts = string.format("%d", os.time() * 1000)
   local parts = {}
   for i = 1, batch do
      counter = counter + 1
      parts[i] = string.format('{"id":"%s%012x","ts":%s,%s}', prefix, counter, ts, PROPS[counter % 10])
   end
   local v = (counter * 7919 + tid * 104729) % visitors
   local visit = 0
   if visit_len > 0 then
      -- Each thread sends a visitor about one event per `visitors` requests; phase by visitor.
      visit = math.floor((counter + v * 7) / (visitors * visit_len / 2))
   end
   local body = string.format(
      '{"site_key":"%s","visitor_id":"v%d","visit_id":"s%d-%s-%d-%d","events":[%s]}',
      site_key, v, v, run, tid, visit, table.concat(parts, ","))
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
      local a = string.match(body, '"accepted":(%d+)')
      local d = string.match(body, '"duplicates":(%d+)')
      accepted = accepted + (tonumber(a) or 0)
      duplicates = duplicates + (tonumber(d) or 0)
   else
      bad = bad + 1
      if bad <= 3 then
         io.stderr:write(string.format("non-2xx %d: %s\n", status, string.sub(body or "", 1, 300)))
      end
   end
end

function done(summary, latency, requests)
   local a, d, o, b = 0, 0, 0, 0
   for _, t in ipairs(threads) do
      a = a + t:get("accepted")
      d = d + t:get("duplicates")
      o = o + t:get("ok")
      b = b + t:get("bad")
   end
   io.write(string.format("BENCH accepted=%d duplicates=%d ok=%d bad=%d\n", a, d, o, b))
end
