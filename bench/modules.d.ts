// Reference caches the benchmark measures against; they ship no types.
declare module 'apicache' {
  const apicache: { options(o: object): { middleware(duration: string): import('express').RequestHandler } }
  export default apicache
}
declare module 'koa-cash'
