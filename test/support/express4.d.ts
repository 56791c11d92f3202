// Express 4, installed as the `express4` alias to test the older peer version; same API surface.
declare module 'express4' {
  import express from 'express'
  export default express
}
