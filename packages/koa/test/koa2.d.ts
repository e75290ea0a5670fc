// Koa 2 installed under an alias; its API as used here matches Koa 3's types.
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
