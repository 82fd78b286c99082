// Master public keys are bundled as text (embedded in the compiled binary).
declare module "*.pub" {
  const text: string;
  export default text;
}
