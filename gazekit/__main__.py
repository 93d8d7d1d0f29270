from gazekit.cli import main

main()
