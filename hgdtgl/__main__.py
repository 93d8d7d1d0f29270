from hgdtgl.cli import main

main()
