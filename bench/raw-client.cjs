// Sends N GET requests (for RAW_PATH, default /k/0) over CONC keep-alive sockets, one in flight on
// each, with only a Host field (as wrk does), and exits once every socket has had its answers.
// Used by bench/instructions.sh, where a request count rather than a duration is what makes two
// runs comparable.
// Usage: [RAW_PATH=/k/0] node bench/raw-client.cjs PORT N CONC
const net = require('node:net')
const [port, n, conc] = process.argv.slice(2).map(Number)
const request = Buffer.from(`GET ${process.env.RAW_PATH ?? '/k/0'} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
let sent = 0
for (let c = 0; c < conc; c++) {
  const socket = net.connect(port, '127.0.0.1')
  let tail = ''
  const next = () => {
    if (sent < n) { sent++; socket.write(request) } else socket.end()
  }
  socket.on('connect', next)
  socket.on('data', data => {
    // Bodies never contain a status line, so counting status lines counts responses.
    const text = tail + data.toString('latin1')
    for (let i = text.indexOf('HTTP/1.1 '); i !== -1; i = text.indexOf('HTTP/1.1 ', i + 1)) next()
    tail = text.slice(-8)
  })
  socket.on('error', err => { console.error(err.message); process.exit(1) })
}
