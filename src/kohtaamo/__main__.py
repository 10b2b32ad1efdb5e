from kohtaamo.cli import main

main()
