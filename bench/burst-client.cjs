// The stampede's load generator: PER keep-alive connections to each target port, each used once
// first (WARM_PATH, answered and read), then one GET of PATH written on every connection in a
// single synchronous loop. Prints the burst's latencies (ms, write to last byte) as JSON.
//
// Raw sockets and prebuilt request bytes, because what is measured is the server: a Node
// http.Agent spends tens of microseconds of its own per request, so 500 requests from one
// process took it 30-70 ms to send and read, and that was counted in every latency (a no-cache
// 50 ms server measured 81-120 ms at the median through it). Run it pinned to the other core.
//
// Usage: node bench/burst-client.cjs PER PATH WARM_PATH HOST PORT [PORT...]
'use strict'
const net = require('node:net')

const [per, path, warmPath, host, ...ports] = process.argv.slice(2)
const perTarget = Number(per)
const request = p => Buffer.from(`GET ${p} HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 'latin1')
const warm = request(warmPath)
const burst = request(path)

/**
 * Reads responses off one socket: `onResponse` once per complete response. Content-Length and
 * chunked bodies; a response head is never split from its own check (bytes are accumulated).
 */
function reader (socket, onResponse) {
  let buf = Buffer.alloc(0)
  socket.on('data', data => {
    buf = buf.length === 0 ? data : Buffer.concat([buf, data])
    for (;;) {
      const headEnd = buf.indexOf('\r\n\r\n')
      if (headEnd === -1) return
      const head = buf.toString('latin1', 0, headEnd).toLowerCase()
      let end
      const length = /\r\ncontent-length:\s*(\d+)/.exec(head)
      if (length) {
        end = headEnd + 4 + Number(length[1])
        if (buf.length < end) return
      } else if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) {
        const last = buf.indexOf('\r\n0\r\n\r\n', headEnd)
        if (last === -1) return
        end = last + 7
      } else {
        end = headEnd + 4 // 304 or 204: no body
      }
      buf = buf.subarray(end)
      onResponse()
    }
  })
}

function open (port) {
  return new Promise(resolve => {
    const socket = net.connect({ port: Number(port), host: '127.0.0.1', noDelay: true })
    const state = { socket, answered: 0, waiting: undefined }
    reader(socket, () => { state.answered++; const w = state.waiting; state.waiting = undefined; if (w) w() })
    socket.once('connect', () => resolve(state))
    // A connection that fails at any point fails the burst: its latencies would be missing.
    socket.on('error', err => { console.error(`burst client: ${err.message}`); process.exit(1) })
  })
}

const answered = state => new Promise(resolve => { state.waiting = resolve })

async function main () {
  const conns = []
  // Connections opened a port at a time, not all at the same instant (listen backlogs).
  for (const port of ports) {
    for (let i = 0; i < perTarget; i += 50) {
      conns.push(...await Promise.all(Array.from({ length: Math.min(50, perTarget - i) }, () => open(port))))
    }
  }
  await Promise.all(conns.map(c => { const done = answered(c); c.socket.write(warm); return done }))
  const latencies = new Array(conns.length)
  const done = conns.map((c, i) => answered(c).then(() => { latencies[i] = Number(process.hrtime.bigint() - c.t0) / 1e6 }))
  for (const c of conns) {
    c.t0 = process.hrtime.bigint()
    c.socket.write(burst)
  }
  await Promise.all(done)
  for (const c of conns) c.socket.destroy()
  process.stdout.write(JSON.stringify(latencies) + '\n')
}

main().catch(err => { console.error(err.message); process.exit(1) })
