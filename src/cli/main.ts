export async function main(argv: readonly string[]): Promise<number> {
  console.log('rf-edge', argv.join(' '));
  return 0;
}
