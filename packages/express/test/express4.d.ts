// Express 4 installed under an alias; its API as used here matches Express 5's types.
declare module 'express4' {
  import express from 'express';
  export default express;
}
