// This project's own program named like one of backprop's examples.
int main() {
  return 0;
}
